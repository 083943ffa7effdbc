package schema

// The generated Go code (internal/fb, for tests: the safe decoder does not
// use it), Python code (../python/fb, for Python clients) and C++ header
// (../cpp/tick_generated.h, for C++ clients). make test checks all three are
// what tick.fbs produces.
//go:generate flatc --go -o internal tick.fbs
//go:generate flatc --python -o ../python tick.fbs
//go:generate flatc --cpp -o ../cpp tick.fbs
