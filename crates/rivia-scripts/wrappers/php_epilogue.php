
$__rivia_r = $GLOBALS['__rivia_response'];
if ($__rivia_r instanceof HttpResponse) {
    echo "\n" . $GLOBALS['__rivia_separator'];
    echo json_encode(array($__rivia_r->status_code, strval($__rivia_r->content_type),
        strval($__rivia_r->content), $__rivia_r->headers));
}
?>
