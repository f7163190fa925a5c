package apikeys

// SetLookupHook makes fn run at the start of every database lookup.
func SetLookupHook(v *Verifier, fn func()) { v.onLookup = fn }
