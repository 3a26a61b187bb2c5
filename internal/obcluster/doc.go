// Package obcluster is obflow's domain vocabulary: an OceanBase cluster as
// obshell manages it. It holds the cluster's nouns (agents and their
// addresses, hosts, identities, observer and cluster configuration, the
// resolved server plan, the changes the registry records) and obshell's
// typed words for DAGs (states, operators, maintenance types). Every other
// package speaks these types; wire formats (package obshell) and Temporal
// code (workflows, activities) build on them.
package obcluster
