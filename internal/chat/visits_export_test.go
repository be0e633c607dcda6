package chat

// WaitVisits waits until queued visit history is written (tests only).
func (s *Service) WaitVisits() { s.waitVisits() }
