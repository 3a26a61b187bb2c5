package starter

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
)

// dagOperator is what operating a DAG needs from a client.
type dagOperator interface {
	DagGetter
	OperateDag(ctx context.Context, id string, op obcluster.Operator) error
}

// ParseOperator reads "retry", "ROLLBACK", ... as an obshell operator (RUN is not one a user
// sends).
func ParseOperator(s string) (obcluster.Operator, error) {
	op, ok := obcluster.ParseOperator(strings.ToUpper(s))
	if !ok || op == obcluster.OperatorRun {
		return 0, fmt.Errorf("unknown operator %q (want retry, rollback, cancel or pass)", s)
	}
	return op, nil
}

// Outcome reports whether dag is the end state the SDKs wait for after op (CONTRACT.md §2.4): RETRY →
// SUCCEED/RUN, ROLLBACK → SUCCEED/ROLLBACK, CANCEL → FAILED/CANCEL, PASS → SUCCEED/PASS.
func Outcome(op obcluster.Operator, dag *obshell.DagDetailDTO) bool {
	switch op {
	case obcluster.OperatorRetry:
		return dag.IsSucceed() && dag.IsRun()
	case obcluster.OperatorRollback:
		return dag.IsSucceed() && dag.IsRollback()
	case obcluster.OperatorCancel:
		return dag.IsFailed() && dag.IsCancel()
	case obcluster.OperatorPass:
		return dag.IsSucceed() && dag.IsPass()
	}
	return false
}

// OutcomeError is a DAG that finished in a state other than the operator's outcome (a retried DAG
// that failed again, a rollback that failed).
type OutcomeError struct {
	Op  obcluster.Operator
	Dag *obshell.DagDetailDTO
	*DagFailedError
}

func (e *OutcomeError) Error() string {
	msg := fmt.Sprintf("after %s, DAG %s ended %s/%s", e.Op, e.Dag.GenericID, e.Dag.State, e.Dag.Operator)
	if e.DagFailedError != nil && len(e.Failures) > 0 {
		msg += ": " + e.Failures[0].String()
	}
	return msg
}

func (e *OutcomeError) Unwrap() error {
	if e.DagFailedError == nil {
		return nil
	}
	return e.DagFailedError
}

// Operate posts op for the DAG and waits, showing progress, until the DAG reaches the outcome the
// SDKs wait for (see Outcome) or finishes otherwise (*OutcomeError). The operator is applied by the
// agent before it answers, but a finished state read right after could still be the one from
// before: for up to settle, a finished state whose end time has not moved is not taken as the end.
func Operate(ctx context.Context, c dagOperator, id string, op obcluster.Operator, every time.Duration, view View) (*obshell.DagDetailDTO, error) {
	if view == nil {
		view = nopView{}
	}
	if every <= 0 {
		every = DefaultPollEvery
	}
	before, err := c.GetDag(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("query dag %s: %w", id, err)
	}
	if err := c.OperateDag(ctx, id, op); err != nil {
		return before, fmt.Errorf("%s dag %s: %w", op, id, err)
	}
	const settle = 10 * time.Second
	posted := time.Now()
	dag, err := waitDag(ctx, c, id, every, view, func(d *obshell.DagDetailDTO) bool {
		if Outcome(op, d) {
			return true
		}
		if !d.IsFinished() {
			return false
		}
		stale := d.State == before.State && d.Operator == before.Operator && d.EndTime.Equal(before.EndTime)
		return !stale || time.Since(posted) > settle
	})
	if dag == nil {
		return nil, err
	}
	if Outcome(op, dag) {
		return dag, nil
	}
	if ctx.Err() != nil {
		return dag, ctx.Err()
	}
	oe := &OutcomeError{Op: op, Dag: dag}
	if dag.IsFailed() {
		oe.DagFailedError = &DagFailedError{Dag: dag, Failures: Explain(dag)}
	}
	return dag, oe
}
