package silo_test

import (
	"reflect"
	"testing"

	"github.com/silo-datasets/silo"
)

func TestSplitUsage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		groups []silo.UsageGroup
		want   *silo.UsageBreakdown
	}{
		{"none", nil, &silo.UsageBreakdown{ByType: []silo.UsageShare{}, ByClient: []silo.UsageShare{}, ByKey: []silo.UsageShare{},
			ByProject: []silo.ProjectShare{}}},
		{"folds three ways, largest first", []silo.UsageGroup{
			{Type: "embed-input", ClientName: "cli", KeyID: "key_a", KeyName: "alice", ProjectID: "prj_a", Datasets: 2, Bytes: 10},
			{Type: "embed-input", ClientName: "web", KeyID: "key_b", KeyName: "bob", ProjectID: "prj_a", Datasets: 1, Bytes: 5},
			{Type: "chat-finetune-input", ClientName: "cli", KeyID: "key_a", KeyName: "alice", Datasets: 1, Bytes: 20},
			{Type: "embed-input", ClientName: "cli", Datasets: 1, Bytes: 1},
		}, &silo.UsageBreakdown{
			ByType:   []silo.UsageShare{{Key: "chat-finetune-input", Datasets: 1, Bytes: 20}, {Key: "embed-input", Datasets: 4, Bytes: 16}},
			ByClient: []silo.UsageShare{{Key: "cli", Datasets: 4, Bytes: 31}, {Key: "web", Datasets: 1, Bytes: 5}},
			ByKey: []silo.UsageShare{{Key: "key_a", Name: "alice", Datasets: 3, Bytes: 30}, {Key: "key_b", Name: "bob", Datasets: 1, Bytes: 5},
				{Key: "", Name: silo.UnknownKeyName, Datasets: 1, Bytes: 1}},
			ByProject: []silo.ProjectShare{{Datasets: 2, Bytes: 21}, {ProjectID: ptr("prj_a"), Datasets: 3, Bytes: 15}},
		}},
		{"ties by key", []silo.UsageGroup{
			{Type: "b", ClientName: "y", Datasets: 1, Bytes: 1},
			{Type: "a", ClientName: "x", Datasets: 1, Bytes: 1},
		}, &silo.UsageBreakdown{
			ByType:    []silo.UsageShare{{Key: "a", Datasets: 1, Bytes: 1}, {Key: "b", Datasets: 1, Bytes: 1}},
			ByClient:  []silo.UsageShare{{Key: "x", Datasets: 1, Bytes: 1}, {Key: "y", Datasets: 1, Bytes: 1}},
			ByKey:     []silo.UsageShare{{Key: "", Name: silo.UnknownKeyName, Datasets: 2, Bytes: 2}},
			ByProject: []silo.ProjectShare{{Datasets: 2, Bytes: 2}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := silo.SplitUsage(tc.groups); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("SplitUsage = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }
