module github.com/pbxhooks/pbxhooks/services/connector

go 1.26.0

replace (
	github.com/pbxhooks/pbxhooks/pkg => ../../pkg
	github.com/pbxhooks/pbxhooks/proto => ../../proto
)
