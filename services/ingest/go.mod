module github.com/pbxhooks/pbxhooks/services/ingest

go 1.26

replace (
	github.com/pbxhooks/pbxhooks/pkg => ../../pkg
	github.com/pbxhooks/pbxhooks/proto => ../../proto
)
