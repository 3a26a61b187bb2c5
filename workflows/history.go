package workflows

import (
	"fmt"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"
)

// The SDK's SideEffect marker, which carries SubTaskFailure records.
const (
	sideEffectMarkerName = "SideEffect"
	sideEffectDataKey    = "data"
)

// DecodeSubTaskFailure reads the SubTaskFailure a MarkerRecorded event
// carries. ok is false for markers that are not SubTaskFailure records
// (other SideEffects, versions, local activities). dc must be the data
// converter the workflow's payloads were written with (the codec's).
func DecodeSubTaskFailure(m *historypb.MarkerRecordedEventAttributes, dc converter.DataConverter) (f SubTaskFailure, ok bool, err error) {
	if m == nil || m.GetMarkerName() != sideEffectMarkerName {
		return SubTaskFailure{}, false, nil
	}
	data := m.GetDetails()[sideEffectDataKey]
	if data == nil || len(data.GetPayloads()) != 1 {
		return SubTaskFailure{}, false, nil
	}
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	if err := dc.FromPayloads(data, &f); err != nil {
		return SubTaskFailure{}, false, fmt.Errorf("decode side effect marker: %w", err)
	}
	if _, perr := ParseActivityID(f.ActivityID); perr != nil || f.ErrCode == "" {
		return SubTaskFailure{}, false, nil
	}
	return f, true, nil
}

// DecodePlan reads the Plan from a DAG workflow's WorkflowExecutionStarted
// event: every DAG workflow's single input starts with a "plan" field.
func DecodePlan(started *historypb.WorkflowExecutionStartedEventAttributes, dc converter.DataConverter) (Plan, error) {
	if started == nil || len(started.GetInput().GetPayloads()) == 0 {
		return Plan{}, fmt.Errorf("the start event has no input")
	}
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	var in struct {
		Plan Plan `json:"plan"`
	}
	if err := dc.FromPayload(started.GetInput().GetPayloads()[0], &in); err != nil {
		return Plan{}, fmt.Errorf("decode the DAG plan: %w", err)
	}
	if err := in.Plan.Validate(); err != nil {
		return Plan{}, fmt.Errorf("decode the DAG plan: %w", err)
	}
	return in.Plan, nil
}
