package workflows

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/obflow/obflow/internal/obcluster"
)

// Kind says whether an activity runs a stage's task or its compensation.
type Kind string

// The two kinds of sub-task execution.
const (
	KindRun      Kind = "run"
	KindRollback Kind = "rollback"
)

// ActivityID identifies one execution of one sub-task. Its string form,
// "<stage>-<kind>-<round>-<agent ip:port>" (e.g. "3-run-1-127.0.0.2:2886"),
// is the Temporal activity id, so a history alone tells which sub-task an
// activity event belongs to. Round numbers grow strictly per stage: each
// pass over a stage (its first run, the rollback and the re-run of a RETRY,
// the compensation of a ROLLBACK) takes the next round.
type ActivityID struct {
	Stage int             // 1-based
	Kind  Kind            // run or rollback
	Round int             // 1-based, per stage
	Agent obcluster.Agent // the sub-task's execute_agent
}

// String encodes the id.
func (id ActivityID) String() string {
	return fmt.Sprintf("%d-%s-%d-%s", id.Stage, id.Kind, id.Round, id.Agent)
}

// ParseActivityID decodes an id made by ActivityID.String. IPv6 agents are
// written "[ip]:port".
func ParseActivityID(s string) (ActivityID, error) {
	parts := strings.SplitN(s, "-", 4)
	if len(parts) != 4 {
		return ActivityID{}, fmt.Errorf("activity id %q: want <stage>-<kind>-<round>-<ip:port>", s)
	}
	stage, err := strconv.Atoi(parts[0])
	if err != nil || stage < 1 {
		return ActivityID{}, fmt.Errorf("activity id %q: bad stage %q", s, parts[0])
	}
	kind := Kind(parts[1])
	if kind != KindRun && kind != KindRollback {
		return ActivityID{}, fmt.Errorf("activity id %q: bad kind %q", s, parts[1])
	}
	round, err := strconv.Atoi(parts[2])
	if err != nil || round < 1 {
		return ActivityID{}, fmt.Errorf("activity id %q: bad round %q", s, parts[2])
	}
	host, portText, err := net.SplitHostPort(parts[3])
	if err != nil {
		return ActivityID{}, fmt.Errorf("activity id %q: bad agent: %w", s, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 || net.ParseIP(host) == nil {
		return ActivityID{}, fmt.Errorf("activity id %q: bad agent %q", s, parts[3])
	}
	return ActivityID{Stage: stage, Kind: kind, Round: round, Agent: obcluster.Agent{IP: host, Port: port}}, nil
}
