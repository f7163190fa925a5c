// One isolated environment (dev, beta or prod) of Booga Enterprise Functions,
// deployed into one resource group: network, Front Door with WAF, the
// Function App, PostgreSQL, Redis, Service Bus, Key Vault, storage and
// monitoring. The app reaches every service with one user-assigned managed
// identity; no connection secret is stored anywhere.
//
// Deploy with scripts/deploy ENV, which passes bicep/env/ENV.bicepparam.

targetScope = 'resourceGroup'

@allowed([
  'dev'
  'beta'
  'prod'
])
param environmentName string

param location string = resourceGroup().location

@description('VNet address space, a /16 that does not overlap networks peered with it.')
param addressPrefix string

@description('Custom host names Front Door serves, such as app.example.com. Empty means the endpoint host name only.')
param hostNames array = []

@description('Object id of the Entra group that administers PostgreSQL and runs migrations.')
param postgresAdminGroupObjectId string

@description('Display name of that Entra group.')
param postgresAdminGroupName string

param postgresSkuName string
param postgresSkuTier string
param postgresStorageSizeGB int
param postgresBackupRetentionDays int

@description('Azure Managed Redis SKU, such as Balanced_B0.')
param redisSkuName string

@allowed([
  'Standard'
  'Premium'
])
param serviceBusSku string
param serviceBusCapacity int = 1

@description('Flex Consumption ceiling on instances.')
param maximumInstanceCount int
param instanceMemoryMB int = 2048
param logRetentionDays int
param logLevel string = 'info'
param databaseMaxConns int

@description('Front Door WAF limit on requests per client address per minute.')
param wafRateLimitPerMinute int

@description('OpenID Connect issuer of user tokens, such as https://login.microsoftonline.com/{tenantid}/v2.0 for a multi-tenant Entra ID app. Empty turns user sign-in off.')
param oidcIssuer string = ''
@description('Audience of user tokens: the API app registration\'s application id URI or client id. Required with oidcIssuer.')
param oidcAudience string = ''
@description('JSON Web Key Set URL; empty reads it from the issuer\'s OpenID configuration.')
param oidcJwksUrl string = ''
@description('Token claim naming the user\'s directory (tid for Entra ID).')
param oidcTenantClaim string = 'tid'
@description('Token claim identifying a person for good (oid for Entra ID).')
param oidcSubjectClaim string = 'oid'

var isProd = environmentName == 'prod'
var namePrefix = 'booga-${environmentName}'
var suffix = take(uniqueString(resourceGroup().id), 6)
var tags = {
  environment: environmentName
  service: 'booga-functions'
}

// Blob containers the code uses; infra/blob.Containers must list the same
// names (a test in bicep/ checks it).
var blobContainers = [
  'files'
  'reports'
]

// Service Bus entities the functions use. Every queue, topic and
// subscription named in a functions/*/function.json binding must be here
// (a test in bicep/ checks it).
var serviceBusQueues = [
  'webhook-deliveries'
  'agent-runs'
  'report-runs'
  'integration-syncs'
  'file-processing'
  'org-unit-deletions'
]
var serviceBusTopics = {
  events: [
    'webhook-fanout'
  ]
}

var postgresServerName = 'psql-${namePrefix}-${suffix}'
var privateDnsZones = [
  'privatelink.blob.${environment().suffixes.storage}'
  'privatelink.vaultcore.azure.net'
  'privatelink.redis.azure.net'
  'privatelink.servicebus.windows.net'
  '${postgresServerName}.private.postgres.database.azure.com'
]

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${namePrefix}'
  location: location
  tags: tags
}

module network 'modules/network.bicep' = {
  name: 'network'
  params: {
    location: location
    namePrefix: namePrefix
    tags: tags
    addressPrefix: addressPrefix
    privateDnsZoneNames: privateDnsZones
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    namePrefix: namePrefix
    tags: tags
    retentionDays: logRetentionDays
    principalId: identity.properties.principalId
  }
}

// The Functions host's own storage: leases, timers and the deployment
// package. The host needs Storage Blob Data Owner here.
module hostStorage 'modules/storage.bicep' = {
  name: 'host-storage'
  params: {
    location: location
    tags: tags
    name: 'stbooga${environmentName}h${suffix}'
    skuName: isProd ? 'Standard_ZRS' : 'Standard_LRS'
    containers: [
      'app-package'
    ]
    principalId: identity.properties.principalId
    roleDefinitionId: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
    privateEndpointSubnetId: network.outputs.privateEndpointSubnetId
    blobDnsZoneId: network.outputs.zoneIds[0]
  }
}

// Application data (uploaded files, report output): read and write blobs,
// Storage Blob Data Contributor, no control over the account.
module dataStorage 'modules/storage.bicep' = {
  name: 'data-storage'
  params: {
    location: location
    tags: tags
    name: 'stbooga${environmentName}d${suffix}'
    skuName: isProd ? 'Standard_ZRS' : 'Standard_LRS'
    containers: blobContainers
    principalId: identity.properties.principalId
    roleDefinitionId: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
    privateEndpointSubnetId: network.outputs.privateEndpointSubnetId
    blobDnsZoneId: network.outputs.zoneIds[0]
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'key-vault'
  params: {
    location: location
    tags: tags
    name: 'kv-${namePrefix}-${suffix}'
    purgeProtection: isProd
    principalId: identity.properties.principalId
    privateEndpointSubnetId: network.outputs.privateEndpointSubnetId
    dnsZoneId: network.outputs.zoneIds[1]
  }
}

module redis 'modules/redis.bicep' = {
  name: 'redis'
  params: {
    location: location
    tags: tags
    name: 'redis-${namePrefix}-${suffix}'
    skuName: redisSkuName
    highAvailability: isProd
    principalId: identity.properties.principalId
    privateEndpointSubnetId: network.outputs.privateEndpointSubnetId
    dnsZoneId: network.outputs.zoneIds[2]
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'service-bus'
  params: {
    location: location
    tags: tags
    name: 'sb-${namePrefix}-${suffix}'
    skuName: serviceBusSku
    capacity: serviceBusCapacity
    queues: serviceBusQueues
    topics: serviceBusTopics
    maxDeliveryCount: 10
    principalId: identity.properties.principalId
    privateEndpointSubnetId: network.outputs.privateEndpointSubnetId
    dnsZoneId: network.outputs.zoneIds[3]
  }
}

module postgres 'modules/postgres.bicep' = {
  name: 'postgres'
  params: {
    location: location
    tags: tags
    name: postgresServerName
    skuName: postgresSkuName
    skuTier: postgresSkuTier
    storageSizeGB: postgresStorageSizeGB
    version: '16'
    highAvailability: isProd
    geoRedundantBackup: isProd
    backupRetentionDays: postgresBackupRetentionDays
    delegatedSubnetId: network.outputs.postgresSubnetId
    privateDnsZoneId: network.outputs.zoneIds[4]
    databaseName: 'booga'
    adminGroupObjectId: postgresAdminGroupObjectId
    adminGroupName: postgresAdminGroupName
  }
}

module frontDoorProfile 'modules/frontdoor-profile.bicep' = {
  name: 'front-door-profile'
  params: {
    namePrefix: namePrefix
    tags: tags
    rateLimitPerMinute: wafRateLimitPerMinute
  }
}

// Every setting shared/config reads (config.Settings()) except
// FUNCTIONS_CUSTOMHANDLER_PORT, which the host sets, plus the host's own
// identity-based connections. A test in bicep/ checks both directions.
var appSettings = {
  APP_ENV: environmentName
  LOG_LEVEL: logLevel
  DATABASE_URL: 'postgres://${identity.name}@${postgres.outputs.host}:5432/booga?sslmode=verify-full'
  DATABASE_AUTH: 'entra'
  DATABASE_MAX_CONNS: string(databaseMaxConns)
  REDIS_URL: 'rediss://${identity.properties.principalId}@${redis.outputs.host}:${redis.outputs.port}/0'
  REDIS_AUTH: 'entra'
  APIKEY_PBKDF2_ITERATIONS: '600000'
  APIKEY_CACHE_TTL: '60s'
  APIKEY_ROTATION_GRACE: '24h'
  AUTH_FAILURE_LIMIT: '20'
  RATE_LIMIT_PER_MINUTE: '600'
  RATE_LIMIT_PER_HOUR: '20000'
  RATE_LIMIT_REDIS_DOWN: isProd ? 'closed' : 'open'
  FRONT_DOOR_ID: frontDoorProfile.outputs.frontDoorId
  IDEMPOTENCY_RETENTION: '24h'
  API_DOCS_FILE: 'api-docs.html'
  USAGE_FLUSH_INTERVAL: '200ms'
  USAGE_BUFFER_SIZE: '10000'
  USAGE_BATCH_SIZE: '500'
  USAGE_STREAM_MAX_LEN: '100000'
  AZURE_CLIENT_ID: identity.properties.clientId
  KEY_VAULT_URL: keyVault.outputs.uri
  KEY_VAULT_SECRET_TTL: '5m'
  SERVICEBUS_NAMESPACE: serviceBus.outputs.fullyQualifiedNamespace
  BLOB_ACCOUNT_URL: dataStorage.outputs.blobEndpoint
  OIDC_ISSUER: oidcIssuer
  OIDC_AUDIENCE: oidcAudience
  OIDC_JWKS_URL: oidcJwksUrl
  OIDC_TENANT_CLAIM: oidcTenantClaim
  OIDC_SUBJECT_CLAIM: oidcSubjectClaim
  OIDC_JWKS_REFRESH_INTERVAL: '1h'
  FILES_MAX_FILE_BYTES: '5368709120'
  FILES_TENANT_QUOTA_BYTES: '107374182400'
  FILES_DELETED_RETENTION: '720h'
  FILES_UPLOAD_TTL: '24h'
  WEBHOOK_TIMEOUT: '10s'
  WEBHOOK_CONCURRENCY: '16'
  WEBHOOK_DISABLE_AFTER: '120h'
  WEBHOOK_SECRET_OVERLAP: '24h'
  WEBHOOKS_ALLOW_LOOPBACK: 'false'

  AzureWebJobsStorage__accountName: hostStorage.outputs.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.properties.clientId
  ServiceBusConnection__fullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identity.properties.clientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'function-app'
  params: {
    location: location
    namePrefix: namePrefix
    tags: tags
    identityId: identity.id
    appSubnetId: network.outputs.appSubnetId
    deploymentContainerUrl: '${hostStorage.outputs.blobEndpoint}app-package'
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    appSettings: appSettings
    frontDoorId: frontDoorProfile.outputs.frontDoorId
  }
}

module frontDoorRoutes 'modules/frontdoor-routes.bicep' = {
  name: 'front-door-routes'
  params: {
    profileName: frontDoorProfile.outputs.profileName
    namePrefix: namePrefix
    tags: tags
    wafPolicyId: frontDoorProfile.outputs.wafPolicyId
    originHostName: functionApp.outputs.defaultHostName
    hostNames: hostNames
  }
}

output functionAppName string = functionApp.outputs.name
output frontDoorHostName string = frontDoorRoutes.outputs.endpointHostName
output domainValidation array = frontDoorRoutes.outputs.domainValidation
output identityName string = identity.name
output identityClientId string = identity.properties.clientId
output postgresHost string = postgres.outputs.host
output keyVaultUri string = keyVault.outputs.uri
