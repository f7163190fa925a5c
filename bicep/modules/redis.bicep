// Azure Managed Redis reached through a private endpoint, with access keys
// off: clients sign in with Entra ID tokens. The app's identity gets the
// database's default access policy (the only policy the API offers).

param location string
param tags object
param name string
param skuName string
param highAvailability bool
param principalId string
param privateEndpointSubnetId string
param dnsZoneId string

resource cluster 'Microsoft.Cache/redisEnterprise@2025-07-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
  }
  properties: {
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Disabled'
    highAvailability: highAvailability ? 'Enabled' : 'Disabled'
  }
}

resource database 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' = {
  parent: cluster
  name: 'default'
  properties: {
    clientProtocol: 'Encrypted'
    port: 10000
    // EnterpriseCluster shows one endpoint, so a non-cluster go-redis client
    // works and multi-key Lua scripts need no hash tags.
    clusteringPolicy: 'EnterpriseCluster'
    evictionPolicy: 'NoEviction'
    accessKeysAuthentication: 'Disabled'
  }
}

resource appAccess 'Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments@2025-07-01' = {
  parent: database
  name: 'app'
  properties: {
    accessPolicyName: 'default'
    user: {
      objectId: principalId
    }
  }
}

module endpoint 'private-endpoint.bicep' = {
  name: '${name}-pe'
  params: {
    location: location
    tags: tags
    name: 'pe-${name}'
    subnetId: privateEndpointSubnetId
    serviceId: cluster.id
    groupId: 'redisEnterprise'
    privateDnsZoneId: dnsZoneId
  }
}

output host string = cluster.properties.hostName
output port int = database.properties.port
