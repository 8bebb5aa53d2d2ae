package core_test

import (
	"errors"

	"gateway/core"
)

func isTransient(err error) bool { return errors.Is(err, core.ErrTransient) }
