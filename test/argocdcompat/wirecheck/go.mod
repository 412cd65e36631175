module github.com/gitover/gitover/test/argocdcompat/wirecheck

go 1.26.0

require (
	github.com/stretchr/testify v1.12.1
	sigs.k8s.io/json v0.0.0-20250730193827-2d320260d730
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect
