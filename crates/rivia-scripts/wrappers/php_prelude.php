<?php
// Rivia's PHP template (spec-scripts §1.3/§1.4, §13): inputs arrive base64-encoded so no value
// can change the program; the user's source follows this prelude verbatim, inside the same
// <?php block, and the epilogue prints the custom response when the end is reached.
$ARGS = json_decode(base64_decode('@ARGS@'), true);
$CONFIG = json_decode(base64_decode('@CONFIG@'), true);
$META = json_decode(base64_decode('@META@'), true);
$_output_separator = base64_decode('@SEPARATOR@');
$GLOBALS['__rivia_separator'] = $_output_separator;
$GLOBALS['__rivia_response'] = NULL;

class HttpResponse {
    public $status_code; public $content; public $content_type; public $headers;
    function __construct($status_code = 200, $content = '', $content_type = 'application/json', $headers = NULL) {
        $this->status_code = $status_code;
        $this->content = $content;
        $this->content_type = $content_type;
        $this->headers = $headers;
    }
}

function set_response($response) {
    $GLOBALS['__rivia_response'] = $response;
}
