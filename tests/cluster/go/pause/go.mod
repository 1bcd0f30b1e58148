// The sandbox ("pause") process of the test cluster's pods, written for this project.
module aistack.local/cluster/pause

go 1.24.0
