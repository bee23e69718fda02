package aliyun

import (
	"net/url"
	"testing"
)

// Published vectors collected in docs/phone-alerts.md ("Published signature vectors" A and B).
func TestSignVectors(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		secret  string
		params  map[string]string
		wantSTS string
		wantSig string
	}{
		{
			name: "A ECS DescribeRegions", method: "GET", secret: "testsecret",
			params: map[string]string{
				"AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML",
				"SignatureMethod": "HMAC-SHA1", "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
				"SignatureVersion": "1.0", "Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26",
			},
			wantSTS: "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26",
			wantSig: "OLeaidS1JvxuMvnyHOwuJ+uX5qY=",
		},
		{
			name: "A with POST (computed, not published)", method: "POST", secret: "testsecret",
			params: map[string]string{
				"AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML",
				"SignatureMethod": "HMAC-SHA1", "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
				"SignatureVersion": "1.0", "Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26",
			},
			wantSig: "MxbnVAM4w6sft9xjVpe/GCKueuk=",
		},
		{
			name: "B Dysmsapi SendSms", method: "GET", secret: "testSecret",
			params: map[string]string{
				"AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123",
				"PhoneNumbers": "15300000001", "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用",
				"SignatureMethod": "HMAC-SHA1", "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
				"SignatureVersion": "1.0", "TemplateCode": "SMS_71390007", "TemplateParam": `{"customer":"test"}`,
				"Timestamp": "2017-07-12T02:42:19Z", "Version": "2017-05-25",
			},
			wantSTS: "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123%26PhoneNumbers%3D15300000001%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF%25E9%2587%258C%25E4%25BA%2591%25E7%259F%25AD%25E4%25BF%25A1%25E6%25B5%258B%25E8%25AF%2595%25E4%25B8%2593%25E7%2594%25A8%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466%26SignatureVersion%3D1.0%26TemplateCode%3DSMS_71390007%26TemplateParam%3D%257B%2522customer%2522%253A%2522test%2522%257D%26Timestamp%3D2017-07-12T02%253A42%253A19Z%26Version%3D2017-05-25",
			wantSig: "zJDF+Lrzhj/ThnlvIToysFRq6t4=",
		},
		{
			name: "encoding check from alibaba-cloud-sdk-go", method: "GET", secret: "unused",
			params:  map[string]string{"key": "value", "q": "http://domain/?q=value&q2=value2"},
			wantSTS: "GET&%2F&key%3Dvalue%26q%3Dhttp%253A%252F%252Fdomain%252F%253Fq%253Dvalue%2526q2%253Dvalue2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := url.Values{}
			for k, val := range tt.params {
				v.Set(k, val)
			}
			sts := stringToSign(tt.method, v)
			if tt.wantSTS != "" && sts != tt.wantSTS {
				t.Errorf("stringToSign =\n%s\nwant\n%s", sts, tt.wantSTS)
			}
			if got := sign(tt.secret, sts); tt.wantSig != "" && got != tt.wantSig {
				t.Errorf("sign = %s, want %s", got, tt.wantSig)
			}
		})
	}
}

func TestPercentEncode(t *testing.T) {
	for in, want := range map[string]string{"a b": "a%20b", "*": "%2A", "~-_.": "~-_.", "/:": "%2F%3A", "中": "%E4%B8%AD"} {
		if got := percentEncode(in); got != want {
			t.Errorf("percentEncode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCanonicalQuerySortsByKey(t *testing.T) {
	// "." sorts below "=", so sorting joined pairs would misplace a key that
	// prefixes another.
	v := url.Values{"MenuKeyMap.1.Key": {"1"}, "MenuKeyMap": {"x"}, "A": {"a b"}}
	if got, want := canonicalQuery(v), "A=a%20b&MenuKeyMap=x&MenuKeyMap.1.Key=1"; got != want {
		t.Errorf("canonicalQuery = %s, want %s", got, want)
	}
}
