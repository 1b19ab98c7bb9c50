package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/capsule-go/capsule"
)

//go:generate go run github.com/capsule-go/capsule/cmd/capsulegen

// SummarizeRequest is what a client asks the summarizer for.
type SummarizeRequest struct {
	SiteID string `json:"site_id"` // the tenant whose chain records the call
	Text   string `json:"text"`
}

// Summary is the summarizer's answer.
type Summary struct {
	Sentence string `json:"sentence"`
	Words    int    `json:"words"`
}

// ErrEmptyText reports a request with nothing to summarize.
var ErrEmptyText = errors.New("text is empty")

// Summarize returns the first sentence of the text and its word count: a
// stand-in for a call to a model. Its capsule records the reasoning.
//
//capsule:audit type=agent tenant_from=req.SiteID trigger_from=req.Text source="httpservice summarize"
func Summarize(ctx context.Context, req SummarizeRequest) (Summary, error) {
	c := capsule.Current(ctx)
	c.Reasoning.Model = "first-sentence-v1"
	c.Reasoning.OptionsConsidered = []string{"first sentence", "longest sentence"}
	c.Reasoning.SelectedOption = "first sentence"
	c.Reasoning.Confidence = 0.6
	text := strings.TrimSpace(req.Text)
	if text == "" {
		return Summary{}, ErrEmptyText
	}
	sentence := text
	if i := strings.IndexAny(text, ".!?"); i >= 0 {
		sentence = text[:i+1]
	}
	words := len(strings.FieldsFunc(text, unicode.IsSpace))
	c.Reasoning.Reasoning = fmt.Sprintf("kept the first of the sentences, %d words in all", words)
	return Summary{Sentence: sentence, Words: words}, nil
}

// Convert converts a temperature between Celsius and Fahrenheit, as a tool
// call an agent would make. Its capsule goes to the chain of siteID.
//
//capsule:audit type=tool tenant_from=siteID trigger_from=unit
func Convert(ctx context.Context, siteID string, value float64, unit string) (float64, error) {
	switch unit {
	case "c-to-f":
		return value*9/5 + 32, nil
	case "f-to-c":
		return (value - 32) * 5 / 9, nil
	}
	return 0, fmt.Errorf("unknown unit %q (want c-to-f or f-to-c)", unit)
}
