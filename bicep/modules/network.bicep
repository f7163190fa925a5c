// Virtual network of one environment: a subnet for the Function App's VNet
// integration, one delegated to PostgreSQL Flexible Server, one for private
// endpoints, and the private DNS zones those endpoints register in.

param location string
param namePrefix string
param tags object

@description('Address space of the VNet, a /16 such as 10.20.0.0/16; the subnets take its first three /24 blocks.')
param addressPrefix string

@description('Private DNS zone names to create and link to the VNet.')
param privateDnsZoneNames array

var octets = split(split(addressPrefix, '/')[0], '.')
var base = '${octets[0]}.${octets[1]}'

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: 'vnet-${namePrefix}'
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        // Flex Consumption integrates through a subnet delegated to
        // Microsoft.App/environments.
        name: 'snet-app'
        properties: {
          addressPrefix: '${base}.0.0/24'
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'snet-postgres'
        properties: {
          addressPrefix: '${base}.1.0/24'
          delegations: [
            {
              name: 'postgres-flexible'
              properties: {
                serviceName: 'Microsoft.DBforPostgreSQL/flexibleServers'
              }
            }
          ]
        }
      }
      {
        name: 'snet-private-endpoints'
        properties: {
          addressPrefix: '${base}.2.0/24'
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [for zone in privateDnsZoneNames: {
  name: zone
  location: 'global'
  tags: tags
}]

resource links 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [for (zone, i) in privateDnsZoneNames: {
  parent: zones[i]
  name: 'link-${vnet.name}'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}]

output vnetId string = vnet.id
output appSubnetId string = vnet.properties.subnets[0].id
output postgresSubnetId string = vnet.properties.subnets[1].id
output privateEndpointSubnetId string = vnet.properties.subnets[2].id
output zoneIds array = [for (zone, i) in privateDnsZoneNames: zones[i].id]
