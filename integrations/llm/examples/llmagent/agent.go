package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
)

//go:generate go tool capsulegen

// Agent answers questions with one model and has its answer checked by
// another. Its LLM clients use llm.Transport (see main.go), so each of
// their calls is recorded in the capsule of the audited call that makes
// it; the agent's code does nothing for it.
type Agent struct {
	OpenAI    openai.Client
	Anthropic anthropic.Client
}

// Answer answers a question: it streams a draft from an OpenAI model,
// then asks an Anthropic model to check it.
//
//capsule:audit type=agent tenant_id=llm-example
func (a *Agent) Answer(ctx context.Context, question string) (string, error) {
	s := a.OpenAI.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model: "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("Answer in one short sentence."),
			openai.UserMessage(question),
		},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var draft strings.Builder
	for s.Next() {
		if ch := s.Current(); len(ch.Choices) > 0 {
			draft.WriteString(ch.Choices[0].Delta.Content)
		}
	}
	if err := s.Err(); err != nil {
		return "", fmt.Errorf("drafting: %w", err)
	}
	s.Close()

	check, err := a.Anthropic.Messages.New(ctx, anthropic.MessageNewParams{
		Model:     "claude-sonnet-4-5",
		MaxTokens: 256,
		System:    []anthropic.TextBlockParam{{Text: "Reply OK if the answer is right, else correct it."}},
		Messages: []anthropic.MessageParam{
			anthropic.NewUserMessage(anthropic.NewTextBlock("Q: " + question + "\nA: " + draft.String())),
		},
	})
	if err != nil {
		return "", fmt.Errorf("checking: %w", err)
	}
	var verdict strings.Builder
	for _, b := range check.Content {
		verdict.WriteString(b.Text)
	}
	return fmt.Sprintf("%s (checked: %s)", draft.String(), verdict.String()), nil
}
