package schema

// The generated Go code (internal/fb, for tests: the safe decoder does not
// use it) and Python code (../python/fb, for Python clients). make test checks
// both are what tick.fbs produces.
//go:generate flatc --go -o internal tick.fbs
//go:generate flatc --python -o ../python tick.fbs
