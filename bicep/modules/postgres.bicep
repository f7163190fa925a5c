// PostgreSQL Flexible Server injected into its delegated subnet (no public
// access) with Entra ID authentication only. An operators' Entra group is
// the administrator; the app's identity is added as an ordinary principal by
// scripts/deploy, because ARM can only register administrators.

param location string
param tags object
param name string
param skuName string
param skuTier string
param storageSizeGB int
param version string
param highAvailability bool
param geoRedundantBackup bool
param backupRetentionDays int
param delegatedSubnetId string
param privateDnsZoneId string
param databaseName string

@description('Object id of the Entra group whose members administer the server and run migrations.')
param adminGroupObjectId string

@description('Display name of that group; it is the PostgreSQL user name its members sign in as.')
param adminGroupName string

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    version: version
    storage: {
      storageSizeGB: storageSizeGB
      autoGrow: 'Enabled'
    }
    network: {
      delegatedSubnetResourceId: delegatedSubnetId
      privateDnsZoneArmResourceId: privateDnsZoneId
      publicNetworkAccess: 'Disabled'
    }
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: 'Disabled'
      tenantId: subscription().tenantId
    }
    highAvailability: {
      mode: highAvailability ? 'ZoneRedundant' : 'Disabled'
    }
    backup: {
      backupRetentionDays: backupRetentionDays
      geoRedundantBackup: geoRedundantBackup ? 'Enabled' : 'Disabled'
    }
  }
}

resource admins 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = {
  parent: server
  name: adminGroupObjectId
  properties: {
    principalName: adminGroupName
    principalType: 'Group'
    tenantId: subscription().tenantId
  }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: server
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
}

output host string = server.properties.fullyQualifiedDomainName
