package schema

//go:generate flatc --go -o internal tick.fbs
