// Front Door endpoint, custom domains (beta., app.), the origin (the
// Function App), an HTTPS-only route and the WAF association. WebSocket
// upgrades pass through Front Door Standard/Premium routes without a
// setting of their own.

param profileName string
param namePrefix string
param tags object
param wafPolicyId string

@description('Default host name of the Function App.')
param originHostName string

@description('Custom host names routed to the app, such as app.example.com; may be empty.')
param hostNames array

resource profile 'Microsoft.Cdn/profiles@2024-02-01' existing = {
  name: profileName
}

resource endpoint 'Microsoft.Cdn/profiles/afdEndpoints@2024-02-01' = {
  parent: profile
  name: 'fde-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    enabledState: 'Enabled'
  }
}

// Front Door issues and renews the certificates once the DNS TXT
// validation records exist; scripts/deploy prints them.
resource domains 'Microsoft.Cdn/profiles/customDomains@2024-02-01' = [for host in hostNames: {
  parent: profile
  name: replace(host, '.', '-')
  properties: {
    hostName: host
    tlsSettings: {
      certificateType: 'ManagedCertificate'
      minimumTlsVersion: 'TLS12'
    }
  }
}]

resource originGroup 'Microsoft.Cdn/profiles/originGroups@2024-02-01' = {
  parent: profile
  name: 'functions'
  properties: {
    loadBalancingSettings: {
      sampleSize: 4
      successfulSamplesRequired: 3
      additionalLatencyInMilliseconds: 50
    }
    healthProbeSettings: {
      probePath: '/api/health'
      probeRequestType: 'GET'
      probeProtocol: 'Https'
      probeIntervalInSeconds: 60
    }
  }
}

resource origin 'Microsoft.Cdn/profiles/originGroups/origins@2024-02-01' = {
  parent: originGroup
  name: 'function-app'
  properties: {
    hostName: originHostName
    originHostHeader: originHostName
    httpsPort: 443
    priority: 1
    weight: 1000
    enabledState: 'Enabled'
    enforceCertificateNameCheck: true
  }
}

resource route 'Microsoft.Cdn/profiles/afdEndpoints/routes@2024-02-01' = {
  parent: endpoint
  name: 'api'
  dependsOn: [
    origin
  ]
  properties: {
    originGroup: {
      id: originGroup.id
    }
    customDomains: [for (host, i) in hostNames: {
      id: domains[i].id
    }]
    supportedProtocols: [
      'Http'
      'Https'
    ]
    httpsRedirect: 'Enabled'
    forwardingProtocol: 'HttpsOnly'
    patternsToMatch: [
      '/*'
    ]
    linkToDefaultDomain: 'Enabled'
    enabledState: 'Enabled'
  }
}

resource security 'Microsoft.Cdn/profiles/securityPolicies@2024-02-01' = {
  parent: profile
  name: 'waf'
  properties: {
    parameters: {
      type: 'WebApplicationFirewall'
      wafPolicy: {
        id: wafPolicyId
      }
      associations: [
        {
          domains: concat([
            {
              id: endpoint.id
            }
          ], [for (host, i) in hostNames: {
            id: domains[i].id
          }])
          patternsToMatch: [
            '/*'
          ]
        }
      ]
    }
  }
}

output endpointHostName string = endpoint.properties.hostName
output domainValidation array = [for (host, i) in hostNames: {
  hostName: host
  txtRecord: '_dnsauth.${host}'
  token: domains[i].properties.validationProperties.validationToken
}]
