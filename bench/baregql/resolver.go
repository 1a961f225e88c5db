package baregql

// Resolver is the root of the resolvers gqlgen calls. Every answer is in
// catalog already; resolvers only pick it.
type Resolver struct {
	catalog *catalog
}
