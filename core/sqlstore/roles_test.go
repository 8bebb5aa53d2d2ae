package sqlstore_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// A transaction fills every role of core.Tx: a role added to core.Tx and
// left out here would be a nil interface, found only when called.
func TestTransactionFillsEveryRole(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		s := sqltest.Open(t, dialect)
		err := s.InTx(context.Background(), func(tx core.Tx) error {
			v := reflect.ValueOf(tx)
			for i := range v.NumField() {
				if v.Field(i).IsNil() {
					t.Errorf("%s: role %s of core.Tx is nil", dialect, v.Type().Field(i).Name)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
