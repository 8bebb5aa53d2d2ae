package core_test

import (
	"errors"

	"github.com/opengateway/gateway/core"
)

func isTransient(err error) bool { return errors.Is(err, core.ErrTransient) }
