// dev: smallest SKUs, no zone redundancy, short log retention. Served on
// the Front Door endpoint host name only.
using '../main.bicep'

param environmentName = 'dev'
param addressPrefix = '10.10.0.0/16'
param hostNames = []
param postgresAdminGroupObjectId = readEnvironmentVariable('BOOGA_PG_ADMIN_GROUP_ID')
param postgresAdminGroupName = readEnvironmentVariable('BOOGA_PG_ADMIN_GROUP_NAME', 'booga-dev-db-admins')
param postgresSkuName = 'Standard_B1ms'
param postgresSkuTier = 'Burstable'
param postgresStorageSizeGB = 32
param postgresBackupRetentionDays = 7
param redisSkuName = 'Balanced_B0'
param serviceBusSku = 'Standard'
param maximumInstanceCount = 40
param logRetentionDays = 30
param logLevel = 'debug'
param databaseMaxConns = 5
param wafRateLimitPerMinute = 1000
