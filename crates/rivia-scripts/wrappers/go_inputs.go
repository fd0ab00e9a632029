// Rivia's golang inputs (spec-scripts §1.3, §13): compiled beside the user's main.go, read
// at run time from ONE stdin line {"ARGS", "CONFIG", "META", "_OUTPUT_SEPARATOR", "_TIMEOUT"}
// so that one compiled binary serves every run of the same source and no input is pasted
// into code. ARGS that are not an object (an array) leave ARGS a nil map, as the platform.
package main

import (
	"bufio"
	"encoding/json"
	"os"
)

var ARGS map[string]interface{}
var CONFIG map[string]interface{}
var META map[string]interface{}
var _OUTPUT_SEPARATOR string

func init() {
	var riviaInput struct {
		ARGS      json.RawMessage `json:"ARGS"`
		CONFIG    json.RawMessage `json:"CONFIG"`
		META      json.RawMessage `json:"META"`
		Separator string          `json:"_OUTPUT_SEPARATOR"`
	}
	riviaReader := bufio.NewReaderSize(os.Stdin, 1<<20)
	riviaLine, _ := riviaReader.ReadBytes('\n')
	if err := json.Unmarshal(riviaLine, &riviaInput); err != nil {
		os.Stderr.WriteString("Cannot read the script inputs: " + err.Error() + "\n")
		os.Exit(1)
	}
	_ = json.Unmarshal(riviaInput.ARGS, &ARGS)
	_ = json.Unmarshal(riviaInput.CONFIG, &CONFIG)
	_ = json.Unmarshal(riviaInput.META, &META)
	_OUTPUT_SEPARATOR = riviaInput.Separator
}
