// prod: zone-redundant PostgreSQL with geo-redundant backups, Redis high
// availability, Service Bus Premium behind a private endpoint, Key Vault
// purge protection, higher scale-out ceiling. Served at app.<domain>.
using '../main.bicep'

param environmentName = 'prod'
param addressPrefix = '10.30.0.0/16'
param hostNames = [
  readEnvironmentVariable('BOOGA_PROD_HOST', 'app.booga.example')
]
param postgresAdminGroupObjectId = readEnvironmentVariable('BOOGA_PG_ADMIN_GROUP_ID')
param postgresAdminGroupName = readEnvironmentVariable('BOOGA_PG_ADMIN_GROUP_NAME', 'booga-prod-db-admins')
param postgresSkuName = 'Standard_D4ds_v5'
param postgresSkuTier = 'GeneralPurpose'
param postgresStorageSizeGB = 256
param postgresBackupRetentionDays = 35
param redisSkuName = 'Balanced_B5'
param serviceBusSku = 'Premium'
param serviceBusCapacity = 1
param maximumInstanceCount = 500
param instanceMemoryMB = 4096
param logRetentionDays = 90
param databaseMaxConns = 20
param wafRateLimitPerMinute = 6000
