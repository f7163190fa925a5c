// Service Bus namespace with Entra-only access (local SAS auth off), the
// queues and topic subscriptions the functions use, dead-lettering on expiry
// everywhere, and send and receive roles for the app's identity.
//
// Premium (prod) is reached through a private endpoint. Standard (dev, beta)
// has no private endpoint support, so it keeps its public endpoint and
// relies on Entra ID alone.

param location string
param tags object
param name string

@allowed([
  'Standard'
  'Premium'
])
param skuName string

@description('Messaging units; used by Premium only.')
param capacity int
param queues array

@description('Topic name -> list of subscription names.')
param topics object
param maxDeliveryCount int
param principalId string
param privateEndpointSubnetId string
param dnsZoneId string

var premium = skuName == 'Premium'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuName
    capacity: premium ? capacity : null
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: premium ? 'Disabled' : 'Enabled'
    zoneRedundant: premium
  }
}

resource queueResources 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [for queue in queues: {
  parent: namespace
  name: queue
  properties: {
    deadLetteringOnMessageExpiration: true
    maxDeliveryCount: maxDeliveryCount
    lockDuration: 'PT5M'
    defaultMessageTimeToLive: 'P14D'
    // Publishers set MessageId to make a repeated publish (a relay retry
    // after a crash) a no-op within the window.
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT1H'
  }
}]

resource topicResources 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = [for topic in items(topics): {
  parent: namespace
  name: topic.key
  properties: {
    defaultMessageTimeToLive: 'P14D'
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT1H'
  }
}]

module subscriptions 'servicebus-subscriptions.bicep' = [for (topic, i) in items(topics): {
  name: '${name}-${topic.key}-subscriptions'
  params: {
    namespaceName: namespace.name
    topicName: topicResources[i].name
    subscriptions: topic.value
    maxDeliveryCount: maxDeliveryCount
  }
}]

// Azure Service Bus Data Sender and Data Receiver.
var roles = [
  '69a216fc-b8fb-44d8-bc22-1f3c2552ae39'
  '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
]

resource roleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in roles: {
  scope: namespace
  name: guid(namespace.id, principalId, role)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

module endpoint 'private-endpoint.bicep' = if (premium) {
  name: '${name}-pe'
  params: {
    location: location
    tags: tags
    name: 'pe-${name}'
    subnetId: privateEndpointSubnetId
    serviceId: namespace.id
    groupId: 'namespace'
    privateDnsZoneId: dnsZoneId
  }
}

output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
