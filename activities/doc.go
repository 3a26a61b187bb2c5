// Package activities holds one Temporal activity per stage of obshell's
// "Initialize cluster" DAG (CONTRACT.md §7.5), registered under obshell's task
// names (contract.go), plus the compensations "Destroy observer workdir"
// and "Stop observer".
//
// Host-local activities (HostActivities: work dirs, start/stop observer,
// the health wait, the per-host agent sync) run on the worker of the
// observer's host; they take the host's identity (ip, agent port, home)
// from the worker's configuration and refuse input meant for another host.
// Cluster-level activities (ClusterActivities: bootstrap, metadata,
// password, users, import script) run on the coordinator and reach the
// master's observer over MySQL at <master ip>:<mysql_port>, with no client
// read or write deadline (sqlconn.go). "Import script for tenant" is also
// registered on host workers, for the master's host: its Python fallback
// needs the master's bin/import_time_zone_info.py.
//
// Temporal delivers an activity at least once, so every activity checks
// the state it is about to create before acting:
//
//   - Integrate config is pure.
//   - Create observer workdir accepts directories holding nothing but what
//     it creates itself; anything else is Common.DirNotEmpty.
//   - Start observer does not start an observer already running in the
//     home (obshell's rule: run/observer.pid, /proc/<pid>, a working
//     directory other than run/) with exactly the arguments it would use
//     (/proc/<pid>/cmdline after argv[0]).
//   - Cluster boostrap sends BOOTSTRAP like obshell and decides after a
//     failure: servers in DBA_OB_SERVERS mean it is bootstrapped, "observer
//     is not empty" (4015) means a bootstrap is under way and is waited
//     for; no second ADD SERVER.
//   - Modify password does not ALTER USER when the new password already
//     logs in.
//   - Migrate table, Create user, the conversions and the sync use IF NOT
//     EXISTS, idempotent UPDATEs, existence checks or only read.
//
// Failures are ApplicationErrors whose type is obshell's errCode and whose
// first detail is the sub-task's log lines so far; results embed Result
// with the log lines; long activities heartbeat their log lines.
package activities
