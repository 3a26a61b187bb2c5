// Package taskqueue names obflow's Temporal task queues. Workflows schedule
// host-local activities on the queue of the host's agent, so they run on the
// machine where the observer lives; everything else runs on the coordinator
// queue.
package taskqueue

// Coordinator is polled by coordinator workers: all workflows and the
// cluster-level activities (bootstrap, SQL, metadata).
const Coordinator = "obflow-coordinator"

// Host returns the queue polled by the agent at agentAddr ("ip:port"), for
// activities that must run on that host (workdirs, starting and stopping the
// observer, the health wait).
func Host(agentAddr string) string { return "obflow-host-" + agentAddr }
