# Rivia's Ruby template (spec-scripts §1.3/§1.4, §13): inputs arrive base64-encoded so no value
# can change the program; the user's source follows this prelude verbatim.
require 'json'
require 'base64'
ARGS = JSON.parse(Base64.strict_decode64('@ARGS@'))
CONFIG = JSON.parse(Base64.strict_decode64('@CONFIG@'))
META = JSON.parse(Base64.strict_decode64('@META@'))
_OUTPUT_SEPARATOR = Base64.strict_decode64('@SEPARATOR@')
$__rivia_separator = _OUTPUT_SEPARATOR
$__rivia_response = nil

class HttpResponse
  attr_accessor :status_code, :content, :content_type, :headers
  def initialize(status_code = 200, content = '', content_type = 'application/json', headers = {})
    @status_code = status_code
    @content = content
    @content_type = content_type
    @headers = headers
  end
end

def set_response(response)
  $__rivia_response = response
end

# Printed only when the program ends normally ($! is nil): the platform printed it after the
# user's code; at_exit keeps that true even if the source ends with __END__.
at_exit do
  r = $__rivia_response
  if $!.nil? && r.is_a?(HttpResponse)
    $stdout.write("\n" + $__rivia_separator + "\n")
    $stdout.write(JSON.generate([r.status_code, r.content_type.to_s, r.content.to_s, r.headers]))
    $stdout.flush
  end
end
