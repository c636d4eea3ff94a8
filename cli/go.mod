module github.com/pbxhooks/pbxhooks/cli

go 1.26.0

replace (
	github.com/pbxhooks/pbxhooks/pkg => ../pkg
	github.com/pbxhooks/pbxhooks/proto => ../proto
)

require (
	github.com/pbxhooks/pbxhooks/pkg v0.0.0
	github.com/spf13/cobra v1.10.2
	github.com/spf13/pflag v1.0.9
	github.com/standard-webhooks/standard-webhooks/libraries v0.0.1
)

require (
	github.com/apapsch/go-jsonmerge/v2 v2.0.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/oapi-codegen/runtime v1.9.0 // indirect
	github.com/pbxhooks/pbxhooks/proto v0.0.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
