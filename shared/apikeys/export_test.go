package apikeys

// SetLookupHook makes fn run at the start of every database lookup.
func SetLookupHook(v *Verifier, fn func()) { v.onLookup = fn }

// SetDeriveHook makes fn run before every PBKDF2 derivation of a lookup.
func SetDeriveHook(v *Verifier, fn func()) { v.onDerive = fn }
