// Package topic matches topics against subscriptions the way ZeroMQ does: a
// subscription is a byte prefix of frame 0, the empty prefix matches
// everything, and a topic matches if any subscribed prefix does.
package topic

import "slices"

// Set is a multiset of subscribed prefixes. As in libzmq, subscribing twice
// to one prefix needs two unsubscribes to remove it. The zero value is an
// empty set, ready to use; a Set is not safe for concurrent use.
type Set struct {
	count   map[string]int
	lengths []int // distinct lengths of subscribed prefixes, ascending
	byLen   map[int]int
}

// Add subscribes prefix.
func (s *Set) Add(prefix []byte) {
	if s.count == nil {
		s.count, s.byLen = make(map[string]int), make(map[int]int)
	}
	s.count[string(prefix)]++
	if s.count[string(prefix)] == 1 {
		if s.byLen[len(prefix)]++; s.byLen[len(prefix)] == 1 {
			i, _ := slices.BinarySearch(s.lengths, len(prefix))
			s.lengths = slices.Insert(s.lengths, i, len(prefix))
		}
	}
}

// Remove unsubscribes prefix once; it reports whether prefix was subscribed.
func (s *Set) Remove(prefix []byte) bool {
	n, ok := s.count[string(prefix)]
	if !ok {
		return false
	}
	if n > 1 {
		s.count[string(prefix)] = n - 1
		return true
	}
	delete(s.count, string(prefix))
	if s.byLen[len(prefix)]--; s.byLen[len(prefix)] == 0 {
		delete(s.byLen, len(prefix))
		i, _ := slices.BinarySearch(s.lengths, len(prefix))
		s.lengths = slices.Delete(s.lengths, i, i+1)
	}
	return true
}

// Match reports whether topic starts with a subscribed prefix. It costs one
// map lookup per distinct prefix length, however many prefixes there are,
// and allocates nothing.
func (s *Set) Match(topic []byte) bool {
	for _, n := range s.lengths {
		if n > len(topic) {
			return false
		}
		if _, ok := s.count[string(topic[:n])]; ok {
			return true
		}
	}
	return false
}

// Len returns the number of distinct subscribed prefixes.
func (s *Set) Len() int { return len(s.count) }

// Prefixes returns the distinct subscribed prefixes, sorted.
func (s *Set) Prefixes() [][]byte {
	out := make([][]byte, 0, len(s.count))
	for p := range s.count {
		out = append(out, []byte(p))
	}
	slices.SortFunc(out, func(a, b []byte) int { return slices.Compare(a, b) })
	return out
}
