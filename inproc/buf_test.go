package inproc

import "testing"

// Buffer sizes: every size fits its class, a class has one size, and a
// buffer wastes less than a fifth of itself.
func TestSizeClasses(t *testing.T) {
	sizes := map[int]int{}
	prevClass := 0
	for n := 0; n <= maxPooled+1000; n++ {
		class, size := sizeClass(n)
		if class < 0 {
			if n <= maxPooled || size != n {
				t.Fatalf("%d bytes: unpooled, size %d", n, size)
			}
			continue
		}
		if class >= nClasses || class < prevClass || size < n {
			t.Fatalf("%d bytes: class %d (of %d, previous %d), size %d", n, class, nClasses, prevClass, size)
		}
		if (size-n)*5 >= size && size != minPooled {
			t.Fatalf("%d bytes: a buffer of %d wastes a fifth or more", n, size)
		}
		if s, ok := sizes[class]; ok && s != size {
			t.Fatalf("class %d has sizes %d and %d", class, s, size)
		}
		sizes[class], prevClass = size, class
	}
	if len(sizes) != nClasses {
		t.Fatalf("%d classes used, %d declared", len(sizes), nClasses)
	}
}
