module twill.local/bench/crr

go 1.22
