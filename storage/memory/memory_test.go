package memory_test

import (
	"testing"

	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/memory"
	"github.com/capsule-go/capsule/storage/storagetest"
)

func TestContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return memory.New() })
}
