package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/capsule-go/capsule"
)

//go:generate go run github.com/capsule-go/capsule/cmd/capsulegen

// ErrDenied is returned when an action is not approved.
var ErrDenied = errors.New("action denied")

// Task is a request for the agent, from one site.
type Task struct {
	SiteID string
	Goal   string
}

// Agent plans and carries out tasks with its tools.
type Agent struct {
	Model string
}

// Run carries out one task: it searches, decides and, when the decision
// needs it, asks for approval. The capsule of the call records the
// reasoning behind the decision.
//
//capsule:audit type=agent tenant_from=t.SiteID trigger_from=t.Goal
func (a *Agent) Run(ctx context.Context, t *Task) (string, error) {
	c := capsule.Current(ctx)
	c.Reasoning.Model = a.Model
	c.Context.SessionID = "example-session"

	hits, err := AuditedSearch(ctx, t.Goal, t.SiteID)
	if err != nil {
		return "", fmt.Errorf("searching: %w", err)
	}
	c.Reasoning.Options = []capsule.Option{
		{ID: "answer", Description: "answer from the search results", Feasibility: 0.9, Selected: len(hits) > 0},
		{ID: "escalate", Description: "hand over to a human", Feasibility: 0.6, Selected: len(hits) == 0,
			RejectionReason: "not needed when the search finds something"},
	}
	if len(hits) == 0 {
		c.Reasoning.SelectedOption = "escalate"
		return "", fmt.Errorf("no results for %q: %w", t.Goal, ErrDenied)
	}
	c.Reasoning.SelectedOption = "answer"
	c.Reasoning.Confidence = 0.9
	if strings.Contains(t.Goal, "refund") {
		if err := AuditedApprove(ctx, t.SiteID, "refund"); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%s: %s", t.Goal, strings.Join(hits, ", ")), nil
}

// Search is the agent's search tool.
//
//capsule:audit type=tool tenant_from=siteID
func Search(ctx context.Context, query string, siteID string) ([]string, error) {
	time.Sleep(2 * time.Millisecond) // the tool's latency
	if strings.Contains(query, "unknown") {
		return nil, nil
	}
	return []string{"doc-1", "doc-7"}, nil
}

// Approve asks the site's policy whether an action may go ahead.
//
//capsule:audit type=auth tenant_from=siteID trigger_from=action swallow_errors=false
func Approve(ctx context.Context, siteID, action string) error {
	c := capsule.Current(ctx)
	c.Authority.Type = capsule.AuthorityPolicy
	c.Authority.PolicyReference = "refunds-under-100"
	return nil
}
