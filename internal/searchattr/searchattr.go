// Package searchattr names the custom search attributes obflow's workflows
// set, so that the Web UI, the temporal CLI and the API can list DAGs by
// name, cluster, state and owner agent without reading their histories.
//
// The dev server registers every attribute in All at start; against another
// Temporal cluster an operator registers them once with
// `temporal operator search-attribute create`.
package searchattr

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Keys set by every DAG workflow.
var (
	// DagName is obshell's DAG name, e.g. "Initialize cluster".
	DagName = temporal.NewSearchAttributeKeyKeyword("ObflowDagName")
	// DagID is the DAG's numeric id (the row id part of its generic id).
	DagID = temporal.NewSearchAttributeKeyInt64("ObflowDagID")
	// Cluster is the OceanBase cluster name the DAG works on ("" before one is configured).
	Cluster = temporal.NewSearchAttributeKeyKeyword("ObflowCluster")
	// Agent is the ip:port of the agent that owns the DAG (the one its generic id names).
	Agent = temporal.NewSearchAttributeKeyKeyword("ObflowAgent")
	// DagState is obshell's DAG state: READY, RUNNING, FAILED or SUCCEED.
	DagState = temporal.NewSearchAttributeKeyKeyword("ObflowDagState")
	// DagOperator is obshell's operator: RUN, RETRY, ROLLBACK, CANCEL or PASS.
	DagOperator = temporal.NewSearchAttributeKeyKeyword("ObflowDagOperator")
	// DagStage is the 1-based stage the DAG is at.
	DagStage = temporal.NewSearchAttributeKeyInt64("ObflowDagStage")
)

// All maps every attribute name to its indexed type, for registration.
var All = map[string]enumspb.IndexedValueType{
	DagName.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	DagID.GetName():       enumspb.INDEXED_VALUE_TYPE_INT,
	Cluster.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	Agent.GetName():       enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	DagState.GetName():    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	DagOperator.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	DagStage.GetName():    enumspb.INDEXED_VALUE_TYPE_INT,
}
