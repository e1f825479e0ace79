use super::*;

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

fn conv_with(fields: &[&str], delimiter: &str, format: JsonFormat, input: &[u8]) -> String {
    let c = CsvToJson::new(&names(fields), delimiter, format).unwrap();
    let mut out = Vec::new();
    assert!(c.convert(input, &mut out).unwrap());
    String::from_utf8(out).unwrap()
}

const COLUMNS: &[&str] = &["column1", "column2", "column3", "column4"];

fn conv(input: &str) -> String {
    conv_with(COLUMNS, ",", JsonFormat::Compact, input.as_bytes())
}

/// `DataConverterTest.testCSVToJSONDataConverter`, verbatim.
#[test]
fn data_converter_test_csv() {
    assert_eq!(
        conv("value1, value2,valu\ne3,    value4\n"),
        "{\"column1\":\"value1\",\"column2\":\" value2\",\"column3\":\"valu\\ne3\",\"column4\":\"    value4\"}\n"
    );
    assert_eq!(
        conv("value1, value2,value3\n"),
        "{\"column1\":\"value1\",\"column2\":\" value2\",\"column3\":\"value3\",\"column4\":null}\n"
    );
    assert_eq!(
        conv("value1,value2,value3,value4,value5\n"),
        "{\"column1\":\"value1\",\"column2\":\"value2\",\"column3\":\"value3\",\"column4\":\"value4\"}\n"
    );
    assert_eq!(
        conv("value1,value2,value3,value4\n"),
        "{\"column1\":\"value1\",\"column2\":\"value2\",\"column3\":\"value3\",\"column4\":\"value4\"}\n"
    );
}

/// `DataConverterTest.testCSVToJSONDataConverterConvertingTSV`: `"delimiter": "\\t"`.
#[test]
fn data_converter_test_tsv() {
    assert_eq!(
        conv_with(
            COLUMNS,
            r"\t",
            JsonFormat::Compact,
            b"value1\t value2\tvalue3\t    value4\n"
        ),
        "{\"column1\":\"value1\",\"column2\":\" value2\",\"column3\":\"value3\",\"column4\":\"    value4\"}\n"
    );
}

#[test]
fn trailing_empty_columns_become_null() {
    let f = ["f1", "f2", "f3", "f4", "f5"];
    assert_eq!(
        conv_with(&f, ",", JsonFormat::Compact, b"a,,c,,\n"),
        "{\"f1\":\"a\",\"f2\":\"\",\"f3\":\"c\",\"f4\":null,\"f5\":null}\n"
    );
    assert_eq!(
        conv_with(&f, ",", JsonFormat::Compact, b"\n"),
        "{\"f1\":\"\",\"f2\":null,\"f3\":null,\"f4\":null,\"f5\":null}\n",
        "an empty line is one empty column"
    );
    assert_eq!(
        conv_with(&f, ",", JsonFormat::Compact, b",,,,\n"),
        "{\"f1\":null,\"f2\":null,\"f3\":null,\"f4\":null,\"f5\":null}\n",
        "only delimiters: Java's split returns an empty array"
    );
    assert_eq!(
        conv_with(&f, ",", JsonFormat::Compact, b",b\n"),
        "{\"f1\":\"\",\"f2\":\"b\",\"f3\":null,\"f4\":null,\"f5\":null}\n"
    );
}

#[test]
fn only_one_trailing_newline_is_removed() {
    let f = ["a", "b"];
    assert_eq!(
        conv_with(&f, ",", JsonFormat::Compact, b"x,y\n\n"),
        "{\"a\":\"x\",\"b\":\"y\\n\"}\n"
    );
    assert_eq!(
        conv_with(&f, ",", JsonFormat::Compact, b"x,y"),
        "{\"a\":\"x\",\"b\":\"y\"}\n"
    );
}

#[test]
fn crlf_keeps_the_carriage_return_in_the_last_field() {
    assert_eq!(
        conv_with(&["a", "b"], ",", JsonFormat::Compact, b"x,y\r\n"),
        "{\"a\":\"x\",\"b\":\"y\\r\"}\n"
    );
}

#[test]
fn pipes_escaped_and_bare() {
    assert_eq!(
        conv_with(&["a", "b", "c"], r"\|", JsonFormat::Compact, b"x|y|z\n"),
        "{\"a\":\"x\",\"b\":\"y\",\"c\":\"z\"}\n"
    );
    // A bare `|` is an empty regex alternation: it splits between every character.
    assert_eq!(
        conv_with(&["a", "b", "c", "d"], "|", JsonFormat::Compact, b"x|y\n"),
        "{\"a\":\"x\",\"b\":\"|\",\"c\":\"y\",\"d\":null}\n"
    );
}

#[test]
fn regex_delimiter() {
    assert_eq!(
        conv_with(
            &["a", "b", "c"],
            r"\s*;\s*",
            JsonFormat::Compact,
            b"x ; y;z \n"
        ),
        "{\"a\":\"x\",\"b\":\"y\",\"c\":\"z \"}\n"
    );
}

#[test]
fn escaping_and_non_ascii() {
    assert_eq!(
        conv_with(
            &["a", "b", "c"],
            ",",
            JsonFormat::Compact,
            "q\"uo\\te,\u{1}\u{1f}\t\u{8}\u{c},héllo/😀\u{7f}\n".as_bytes()
        ),
        "{\"a\":\"q\\\"uo\\\\te\",\"b\":\"\\u0001\\u001F\\t\\b\\f\",\"c\":\"héllo/😀\u{7f}\"}\n"
    );
}

#[test]
fn invalid_utf8_becomes_replacement_char() {
    assert_eq!(
        conv_with(&["a", "b"], ",", JsonFormat::Compact, b"x\xFF,\xC3\n"),
        "{\"a\":\"x\u{FFFD}\",\"b\":\"\u{FFFD}\"}\n"
    );
}

#[test]
fn pretty_print() {
    assert_eq!(
        conv_with(COLUMNS, ",", JsonFormat::PrettyPrint, b"value1, value2,value3\n"),
        "{\n  \"column1\" : \"value1\",\n  \"column2\" : \" value2\",\n  \"column3\" : \"value3\",\n  \"column4\" : null\n}\n"
    );
    assert_eq!(
        conv_with(&[], ",", JsonFormat::PrettyPrint, b"a,b\n"),
        "{ }\n"
    );
    assert_eq!(conv_with(&[], ",", JsonFormat::Compact, b"a,b\n"), "{}\n");
}

#[test]
fn duplicate_field_names_behave_like_linked_hash_map() {
    assert_eq!(
        conv_with(&["a", "b", "a"], ",", JsonFormat::Compact, b"1,2,3\n"),
        "{\"a\":\"3\",\"b\":\"2\"}\n"
    );
    assert_eq!(
        conv_with(&["a", "b", "a"], ",", JsonFormat::Compact, b"1,2\n"),
        "{\"a\":null,\"b\":\"2\"}\n"
    );
}

#[test]
fn invalid_delimiter_is_reported() {
    let e = CsvToJson::new(&names(&["a"]), "(", JsonFormat::Compact).unwrap_err();
    assert_eq!(e.pattern, "(");
}

const TLC_FIELDS: [&str; 17] = [
    "VendorID",
    "tpep_pickup_datetime",
    "tpep_dropoff_datetime",
    "passenger_count",
    "trip_distance",
    "RatecodeID",
    "store_and_fwd_flag",
    "PULocationID",
    "DOLocationID",
    "payment_type",
    "fare_amount",
    "extra",
    "mta_tax",
    "tip_amount",
    "tolls_amount",
    "improvement_surcharge",
    "total_amount",
];

/// Real TLC bytes: LF header, a blank CRLF line, CRLF rows, a cut-off last row.
#[test]
fn tlc_raw_head_lines() {
    let data: &[u8] = include_bytes!("../testdata/yellow_tripdata_2018-01.head1024.csv");
    let c = CsvToJson::new(&names(&TLC_FIELDS), ",", JsonFormat::Compact).unwrap();
    let records: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(records.len(), 11);
    let mut out = Vec::new();
    let mut outputs = Vec::new();
    for r in &records {
        out.clear();
        assert!(c.convert(r, &mut out).unwrap());
        outputs.push(String::from_utf8(out.clone()).unwrap());
    }
    let header: String = "{".to_string()
        + &TLC_FIELDS
            .iter()
            .map(|f| format!("\"{f}\":\"{f}\""))
            .collect::<Vec<_>>()
            .join(",")
        + "}\n";
    assert_eq!(outputs[0], header);
    let blank: String = "{\"VendorID\":\"\\r\",".to_string()
        + &TLC_FIELDS[1..]
            .iter()
            .map(|f| format!("\"{f}\":null"))
            .collect::<Vec<_>>()
            .join(",")
        + "}\n";
    assert_eq!(outputs[1], blank);
    assert_eq!(
        outputs[2],
        "{\"VendorID\":\"1\",\"tpep_pickup_datetime\":\"2018-01-01 00:21:05\",\"tpep_dropoff_datetime\":\"2018-01-01 00:24:23\",\"passenger_count\":\"1\",\"trip_distance\":\".50\",\"RatecodeID\":\"1\",\"store_and_fwd_flag\":\"N\",\"PULocationID\":\"41\",\"DOLocationID\":\"24\",\"payment_type\":\"2\",\"fare_amount\":\"4.5\",\"extra\":\"0.5\",\"mta_tax\":\"0.5\",\"tip_amount\":\"0\",\"tolls_amount\":\"0\",\"improvement_surcharge\":\"0.3\",\"total_amount\":\"5.8\\r\"}\n"
    );
    assert_eq!(
        outputs[10],
        "{\"VendorID\":\"1\",\"tpep_pickup_datetime\":\"2018-01-01 00:56:38\",\"tpep_dropoff_datetime\":\"2018-01-01 01:01:05\",\"passenger_count\":\"1\",\"trip_distance\":\"1.00\",\"RatecodeID\":\"1\",\"store_and_fwd_flag\":\"N\",\"PULocationID\":\"238\",\"DOLocationID\":\"24\",\"payment_type\":\"1\",\"fare_amount\":\"5.5\",\"extra\":\"0.5\",\"mta_tax\":\"0.5\",\"tip_amount\":\"1.7\",\"tolls_amount\":\"0\",\"improvement_surcharge\":\"0\",\"total_amount\":null}\n",
        "the cut-off last row has fewer columns"
    );
    // Every row: valid JSON, 17 keys in order, values equal to a naive split.
    for (r, o) in records.iter().zip(&outputs) {
        let v: serde_json::Value = serde_json::from_str(o).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(
            obj.keys().collect::<Vec<_>>(),
            TLC_FIELDS.iter().collect::<Vec<_>>()
        );
        let line = std::str::from_utf8(r).unwrap();
        let line = line.strip_suffix('\n').unwrap_or(line);
        let mut cols: Vec<&str> = line.split(',').collect();
        if line.contains(',') {
            while cols.last() == Some(&"") {
                cols.pop();
            }
        }
        for (i, f) in TLC_FIELDS.iter().enumerate() {
            match cols.get(i) {
                Some(c) => assert_eq!(obj[*f], serde_json::Value::from(*c)),
                None => assert!(obj[*f].is_null()),
            }
        }
    }
}

proptest::proptest! {
    /// The single-byte delimiter path against the regex engine splitting on the same byte.
    #[test]
    fn byte_delimiter_agrees_with_regex_delimiter(
        line in proptest::collection::vec(
            proptest::sample::select(vec![
                &b","[..], b"a", b"17.25", b" ", b"\"", b"\\", b"\t", b"|", "é".as_bytes(),
                "😀".as_bytes(), b"\r", b"\n", b"\x01", b"\xFF", b"\xC3", b"\xED\xA0\x80",
                b"a long column of more than thirty-two bytes",
            ]),
            0..40,
        ),
        // The delimiter as configured (single byte: the fast path), and as a regex class.
        delimiter in proptest::sample::select(vec![(",", "[,]"), (r"\t", r"[\t]"), (r"\|", "[|]")]),
        nfields in 0usize..8,
        dup in proptest::bool::ANY,
        pretty in proptest::bool::ANY,
    ) {
        let bytes = line.concat();
        let mut fields: Vec<String> = (0..nfields).map(|i| format!("f\"{i}")).collect();
        if dup && nfields > 1 {
            fields[nfields - 1] = fields[0].clone();
        }
        let format = if pretty { JsonFormat::PrettyPrint } else { JsonFormat::Compact };
        let fast = CsvToJson::new(&fields, delimiter.0, format).unwrap();
        proptest::prop_assert!(fast.splitter.single_byte().is_some());
        let slow = CsvToJson::new(&fields, delimiter.1, format).unwrap();
        proptest::prop_assert!(!slow.splitter.is_literal());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        proptest::prop_assert!(fast.convert(&bytes, &mut a).unwrap());
        proptest::prop_assert!(slow.convert(&bytes, &mut b).unwrap());
        proptest::prop_assert_eq!(String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
    }
}
