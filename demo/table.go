package demo

// Table is a measurement a scenario produces besides its promises: the
// course material's tables (throughput by buffer size, concurrent
// servers), printed after the run with the material's figures beside
// ours.
type Table struct {
	// Name identifies the table in JSON output: "buffer-sizes",
	// "concurrent-servers".
	Name string
	// Title is the heading printed above the table.
	Title string
	// Columns are the column headings of the text form.
	Columns []string
	// Rows are the cells of the text form, one slice a row, as wide as
	// Columns.
	Rows [][]string
	// Objects are the rows for --json, one value a row (a struct with
	// JSON tags); each is printed as one NDJSON object of type "row"
	// with "table" set to Name.
	Objects []any
	// Notes say how to read the table: which knob a column sets, how the
	// material's figures were measured.
	Notes []string
}

// table records t on the run, for Run.Tables and the headless output.
func (e *env) table(t Table) {
	e.run.mu.Lock()
	e.run.tables = append(e.run.tables, t)
	e.run.mu.Unlock()
	e.say("measure", "table "+t.Name, t.Title)
}

// Tables returns the measurement tables the run has produced so far.
func (r *Run) Tables() []Table {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Table(nil), r.tables...)
}
