package starter

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
)

// Failure is one failed sub-task in plain words: which stage, on which host, and its last log
// line (obd users get "Cluster init failed" and nothing else; this is the rest).
type Failure struct {
	Stage     int // 1-based node index
	MaxStage  int
	StageName string
	Host      string // the sub-task's execute_agent
	Attempts  int
	LastLog   string
}

func (f Failure) String() string {
	log := f.LastLog
	if log == "" {
		log = "(no log line)"
	}
	return fmt.Sprintf("stage %d/%d %q on %s: %s", f.Stage, f.MaxStage, f.StageName, f.Host, log)
}

// Explain lists the failed sub-tasks of the first failed node, the one the SDKs report (a DAG
// stops at its first failed node).
func Explain(dag *obshell.DagDetailDTO) []Failure {
	if dag == nil {
		return nil
	}
	for i, n := range dag.Nodes {
		if n == nil || !n.IsFailed() {
			continue
		}
		var fs []Failure
		for _, st := range n.SubTasks {
			if st == nil || !st.IsFailed() {
				continue
			}
			f := Failure{Stage: i + 1, MaxStage: dag.MaxStage, StageName: n.Name, Host: st.ExecuteAgent.String(), Attempts: st.ExecuteTimes}
			if k := len(st.TaskLogs); k > 0 {
				f.LastLog = st.TaskLogs[k-1]
			}
			fs = append(fs, f)
		}
		if len(fs) == 0 {
			// A failed node without a failed sub-task still names its stage.
			fs = append(fs, Failure{Stage: i + 1, MaxStage: dag.MaxStage, StageName: n.Name, Host: "-"})
		}
		return fs
	}
	return nil
}

// WriteFailure writes a failed DAG's summary, one line per failed sub-task, and what to do next.
func WriteFailure(w io.Writer, dag *obshell.DagDetailDTO) {
	if dag.IsCancel() {
		fmt.Fprintf(w, "%s %s was cancelled at stage %d/%d.\n", dag.Name, dag.GenericID, dag.Stage, dag.MaxStage)
		return
	}
	fs := Explain(dag)
	if len(fs) == 0 {
		fmt.Fprintf(w, "%s %s ended %s/%s with no failed sub-task.\n", dag.Name, dag.GenericID, dag.State, dag.Operator)
		return
	}
	f0 := fs[0]
	fmt.Fprintf(w, "%s %s FAILED at stage %d/%d %q.\n", dag.Name, dag.GenericID, f0.Stage, f0.MaxStage, f0.StageName)
	for _, f := range fs {
		fmt.Fprintf(w, "  on %s (attempt %d): %s\n", f.Host, f.Attempts, orNone(f.LastLog))
	}
	fmt.Fprintf(w, "Fix the cause, then: obflow dag retry %s   (or: obflow dag rollback %s)\n", dag.GenericID, dag.GenericID)
}

func orNone(s string) string {
	if s == "" {
		return "(no log line)"
	}
	return s
}

// TreeOptions tune WriteTree.
type TreeOptions struct {
	// Logs is how many of each sub-task's last log lines to show (0: only for unsuccessful
	// sub-tasks' last line).
	Logs int
}

// WriteTree renders a DAG as a tree: the DAG, its nodes (stages) and their sub-tasks with state,
// host, attempts, duration and the last log lines.
func WriteTree(w io.Writer, dag *obshell.DagDetailDTO, o TreeOptions) {
	fmt.Fprintf(w, "%s  %s  %s  stage %d/%d  %s\n", dag.GenericID, dag.Name, stateOp(dag.TaskStatusDTO), dag.Stage, dag.MaxStage, span(dag.TaskStatusDTO))
	for i, n := range dag.Nodes {
		if n == nil {
			continue
		}
		lastNode := i == len(dag.Nodes)-1
		branch, pad := "├─", "│  "
		if lastNode {
			branch, pad = "└─", "   "
		}
		fmt.Fprintf(w, "%s %2d %-36s %s\n", branch, i+1, n.Name, stateOp(n.TaskStatusDTO))
		for j, st := range n.SubTasks {
			if st == nil {
				continue
			}
			sb, spad := "├─", "│  "
			if j == len(n.SubTasks)-1 {
				sb, spad = "└─", "   "
			}
			line := fmt.Sprintf("%s%s %-21s %s", pad, sb, st.ExecuteAgent.String(), stateOp(st.TaskStatusDTO))
			if st.ExecuteTimes > 0 {
				line += fmt.Sprintf("  attempts %d", st.ExecuteTimes)
			}
			if d := span(st.TaskStatusDTO); d != "" && st.IsFinished() {
				line += "  " + d
			}
			fmt.Fprintln(w, line)
			logs := st.TaskLogs
			switch {
			case o.Logs > 0 && len(logs) > o.Logs:
				logs = logs[len(logs)-o.Logs:]
			case o.Logs == 0 && !st.IsSucceed() && len(logs) > 0:
				logs = logs[len(logs)-1:]
			case o.Logs == 0:
				logs = nil
			}
			for _, l := range logs {
				fmt.Fprintf(w, "%s%s   %s\n", pad, spad, oneLine(l))
			}
		}
	}
	if dag.IsFailed() {
		fmt.Fprintln(w)
		WriteFailure(w, dag)
	}
}

func stateOp(t obshell.TaskStatusDTO) string {
	if t.Operator == 0 || t.Operator == obcluster.OperatorRun {
		return t.State.String()
	}
	return t.State.String() + "/" + t.Operator.String()
}

// span is the duration of a finished item, or how long a running one has run.
func span(t obshell.TaskStatusDTO) string {
	if t.StartTime.Unix() <= 0 {
		return ""
	}
	end := t.EndTime
	if !t.IsFinished() {
		end = time.Now()
	}
	if end.Before(t.StartTime) {
		return ""
	}
	return end.Sub(t.StartTime).Round(10 * time.Millisecond).String()
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r", "")
	return strings.ReplaceAll(s, "\n", " ⏎ ")
}
