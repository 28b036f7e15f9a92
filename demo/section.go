package demo

// Section is a section of the classic sockets course material that
// socktop's learners come from; every scenario belongs to one, and
// docs/lessons.md maps each section to its scenarios.
type Section string

// The sections of the course material, in the order the material teaches
// them (Sections returns them in that order).
const (
	SectionCalls       Section = "The socket calls"
	SectionKinds       Section = "Kinds of sockets: stream and datagram"
	SectionClose       Section = "close against shutdown"
	SectionReuseAddr   Section = "SO_REUSEADDR"
	SectionLinger      Section = "SO_LINGER"
	SectionNonBlocking Section = "Non-blocking sockets"
	SectionServers     Section = "Concurrent servers"
	SectionCrashes     Section = "Crashes: process and host"
	SectionStates      Section = "The TCP state diagram"
	SectionMeasure     Section = "Measurements"
)

// Sections returns every section in teaching order.
func Sections() []Section {
	return []Section{SectionCalls, SectionKinds, SectionClose, SectionReuseAddr, SectionLinger,
		SectionNonBlocking, SectionServers, SectionCrashes, SectionStates, SectionMeasure}
}
