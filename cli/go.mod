module github.com/pbxhooks/pbxhooks/cli

go 1.26.0

replace (
	github.com/pbxhooks/pbxhooks/pkg => ../pkg
	github.com/pbxhooks/pbxhooks/proto => ../proto
)

require (
	github.com/spf13/cobra v1.10.2
	github.com/standard-webhooks/standard-webhooks/libraries v0.0.1
)

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
)
