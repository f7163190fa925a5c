// beta: production-like topology on smaller SKUs, served at beta.<domain>.
using '../main.bicep'

param environmentName = 'beta'
param addressPrefix = '10.20.0.0/16'
param hostNames = [
  readEnvironmentVariable('BOOGA_BETA_HOST', 'beta.booga.example')
]
param postgresAdminGroupObjectId = readEnvironmentVariable('BOOGA_PG_ADMIN_GROUP_ID')
param postgresAdminGroupName = readEnvironmentVariable('BOOGA_PG_ADMIN_GROUP_NAME', 'booga-beta-db-admins')
param postgresSkuName = 'Standard_B2s'
param postgresSkuTier = 'Burstable'
param postgresStorageSizeGB = 64
param postgresBackupRetentionDays = 7
param redisSkuName = 'Balanced_B1'
param serviceBusSku = 'Standard'
param maximumInstanceCount = 100
param logRetentionDays = 30
param databaseMaxConns = 10
param wafRateLimitPerMinute = 2000
