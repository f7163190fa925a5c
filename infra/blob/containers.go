// Package blob wraps Azure Blob Storage (Azurite locally).
package blob

// Containers lists every blob container the code reads or writes. Bicep
// provisions the same names in the data storage account (bicep/main.bicep,
// blobContainers); a test in bicep/ fails when a name here is missing there.
var Containers = []string{
	"files",   // uploaded files, keyed by tenant
	"reports", // generated report output (CSV, JSON, PDF)
}
