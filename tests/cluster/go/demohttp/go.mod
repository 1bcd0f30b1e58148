// A tiny HTTP service and client used as the demo workload and by tests that probe Services from pods.
module aistack.local/cluster/demohttp

go 1.24.0
