package vault

import (
	"encoding/json"

	"github.com/hashicorp/vault/api"
)

var apiError403 = api.ResponseError{StatusCode: 403, Errors: []string{"1 error occurred:\n\t* permission denied\n\n"}}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
