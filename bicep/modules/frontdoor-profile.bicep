// Front Door Premium profile and its WAF policy: Prevention mode, the
// Microsoft default rule set 2.1 and bot manager rule set 1.1 (the current
// managed versions for Front Door), and a per-client-address rate limit.
// The profile is created before the Function App, which needs its
// frontDoorId to admit only this profile's traffic.

param namePrefix string
param tags object

@description('Requests one client IP address may make per minute before Front Door blocks it.')
param rateLimitPerMinute int

resource waf 'Microsoft.Network/FrontDoorWebApplicationFirewallPolicies@2024-02-01' = {
  // WAF policy names allow letters and digits only.
  name: 'waf${replace(namePrefix, '-', '')}'
  location: 'Global'
  tags: tags
  sku: {
    name: 'Premium_AzureFrontDoor'
  }
  properties: {
    policySettings: {
      enabledState: 'Enabled'
      mode: 'Prevention'
      requestBodyCheck: 'Enabled'
    }
    customRules: {
      rules: [
        {
          name: 'RateLimitPerClientIP'
          priority: 100
          enabledState: 'Enabled'
          ruleType: 'RateLimitRule'
          rateLimitDurationInMinutes: 1
          rateLimitThreshold: rateLimitPerMinute
          action: 'Block'
          // A rate-limit rule needs a match condition; this one matches
          // every address, so the limit applies to all clients.
          matchConditions: [
            {
              matchVariable: 'RemoteAddr'
              operator: 'IPMatch'
              negateCondition: true
              matchValue: [
                '255.255.255.255/32'
              ]
            }
          ]
        }
      ]
    }
    managedRules: {
      managedRuleSets: [
        {
          ruleSetType: 'Microsoft_DefaultRuleSet'
          ruleSetVersion: '2.1'
          ruleSetAction: 'Block'
        }
        {
          ruleSetType: 'Microsoft_BotManagerRuleSet'
          ruleSetVersion: '1.1'
        }
      ]
    }
  }
}

resource profile 'Microsoft.Cdn/profiles@2024-02-01' = {
  name: 'afd-${namePrefix}'
  location: 'global'
  tags: tags
  sku: {
    name: 'Premium_AzureFrontDoor'
  }
  properties: {
    originResponseTimeoutSeconds: 240
  }
}

output profileName string = profile.name
output frontDoorId string = profile.properties.frontDoorId
output wafPolicyId string = waf.id
